# language: zh-CN
功能: 有效期:规则的生效期间,以及积分记录的有效期
  规则只对生效期间内(当地日期,两端都含)发生的事件计分;
  积分类型可规定每条记录的有效天数,过期后由一条新记录冲减。

  背景:
    假如 村里有以下农户:
      | 户号 | 网格 | 颜色   |
      | H1   | G1   | yellow |
    并且 村里有以下村民:
      | 编号 | 户号 | 党员 |
      | P1   | H1   | 否   |
    并且 规则文件如下:
      """
      timezone: Asia/Shanghai
      point_types:
        - {key: moral, name: 道德积分, holder: household, step: 0.5, period: year}
        - {key: minor, name: 轻微扣分, holder: household, step: 0.5, period: year, validity_days: 365}
      event_types:
        - {key: sorting, name: 垃圾分类专项行动, subject: person}
        - {key: noise, name: 噪音扰民, subject: person}
      rules:
        - id: G1
          name: 参加垃圾分类专项行动
          point_type: moral
          event: sorting
          points: {fixed: 2}
          valid: {from: 2026-03-01, to: 2026-03-31}
        - {id: N1, name: 噪音扰民, point_type: minor, event: noise, points: {fixed: -1}}
      """

  场景: 生效期间按北京时间的日期判断,两端都含
    当 录入以下事件:
      | 编号 | 类型    | 时间                      | 村民 |
      | g1   | sorting | 2026-02-28T23:30:00+08:00 | P1   |
      | g2   | sorting | 2026-02-28T16:30:00+00:00 | P1   |
      | g3   | sorting | 2026-03-31T23:59:00+08:00 | P1   |
      | g4   | sorting | 2026-03-31T16:30:00+00:00 | P1   |
    那么 事件 g1 的结果为“未计分”
    并且 事件 g2 按规则 G1 记 2 分
    并且 事件 g3 按规则 G1 记 2 分
    并且 事件 g4 的结果为“未计分”
    并且 H1 的 moral 余额为 4
    并且 H1 的 moral 在 2026-03 的得分为 4

  场景: 记录满有效期后冲减,只冲减一次
    假如 已录入以下事件:
      | 编号 | 类型  | 时间             | 村民 |
      | n1   | noise | 2026-01-10 09:00 | P1   |
      | n2   | noise | 2026-06-10 09:00 | P1   |
    当 在 2027-01-10 清理过期记录
    那么 H1 的 minor 余额为 -2
    当 在 2027-01-11 清理过期记录
    那么 H1 的 minor 余额为 -1
    当 在 2027-01-12 清理过期记录
    那么 H1 的 minor 余额为 -1
    并且 H1 共有 3 条 minor 记录
    并且 H1 的 minor 在 2026 的得分为 -2
